/* eisnet/pair.h: weights and optimizer state saved as one consistent pair.
 *
 * Both files carry the same generation (a count of progress) and the
 * state names the weights file it belongs to. A save writes the state to
 * "STATE.next" first, then the weights, then renames STATE.next onto STATE;
 * each step is atomic. After a kill between the last two steps, the next
 * run finds STATE.next with the weights' generation and completes the
 * rename; after a kill before the weights were renamed, STATE.next has
 * another generation and is discarded (the old pair is intact). So a loaded
 * pair is always one that was saved together. */
#ifndef EISNET_PAIR_H
#define EISNET_PAIR_H

#include "eisnet/predictor.h"
#include "eisnet/train_state.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Saves p to weights_path and the optimizer state to state_path as a pair
 * with the given generation (sets p->generation and rs->generation/pair). The
 * generation must differ from that of the pair on disk: it counts progress
 * (train: from the epoch, update: the update count), so that the files do
 * not depend on how often they were saved. The optimizer's moments are
 * first brought back from the model's backend when they live there (a GPU).
 * 0 / -1. */
int eisnet_pair_save(eisnet_predictor *p, const char *weights_path, const char *state_path, eisnet_adamw *opt,
                     eisnet_train_run_state *rs, const eisnet_epoch_record *h, int nh, const char *extra_key,
                     const char *extra_json, int64_t generation);

/* Completes or discards an interrupted save (see above), given the
 * generation of the weights now in weights_path. 0 / -1. */
int eisnet_pair_recover(const char *weights_path, const char *state_path, int64_t weights_generation);

/* Checks that a loaded state belongs to the loaded weights: 0, or -1 with a
 * message naming both files and generations. A state naming another weights
 * file (train's state beside the best model, loaded by update) and files of
 * older versions (generation 0) are not checked. */
int eisnet_pair_check(const char *weights_path, int64_t weights_generation, const char *state_path,
                      const eisnet_train_run_state *rs);

#ifdef __cplusplus
}
#endif
#endif
