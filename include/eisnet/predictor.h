/* eisnet/predictor.h: a trained network together with everything needed to
 * use it: the circuit and its grid, the frequencies, how inputs are built
 * (features and their normalisation). A checkpoint stores exactly this, so a
 * checkpoint alone is enough to run inference.
 *
 * Input row of the network (width n_in):
 *   [ s(v_p) * known_p  (P) | known_p (P) | spectrum features (2F) ]
 * known_p is 1 for a known parameter. s(v) is log10(v) (known_unit = 0, the
 * reference's input) or, for models trained by simulation (known_unit = 1),
 * the position of log10(v) inside the parameter's range, 0 at its lower and
 * 1 at its upper end (outside values extrapolate linearly). Spectrum
 * features (features = 1): per frequency log10|Z| and phase(Z) in radians,
 * each standardised with the training set's mean and standard deviation.
 * features = 0 is the reference's input (no spectrum).
 *
 * Checkpoint files (written atomically):
 *   NAME.safetensors  the PyTorch state dict (float32) + metadata
 *                     "eisnet_config" (JSON, see docs/checkpoints.md)
 *   NAME.npz          the same tensors + "eisnet_config" as a uint8 array
 */
#ifndef EISNET_PREDICTOR_H
#define EISNET_PREDICTOR_H

#include <stdint.h>

#include "eisnet/grid.h"
#include "eisnet/model.h"
#include "eisnet/npy.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    eisnet_grid grid;
    int features;      /* 1 = spectrum features, 0 = parameters only (reference) */
    int n_features;    /* 2 * n_freq or 0 */
    float *feat_mean;  /* n_features */
    float *feat_std;   /* n_features */
    int known;         /* number of known parameters it was trained with; 0: any subset */
    int known_unit;    /* known values as their position in the range (see above) */
    double sigma;      /* relative noise it was trained for; 0 when not trained by simulation */
    char training[16]; /* "simulation", "topk" or "uniform": how its rows were made */
    float resnorm_floor; /* log10 targets use max(resnorm, floor) */
    eisnet_model *model;
    /* training record (informational) */
    int epoch;
    double val_loss;
    /* Incremented by every save of a weights + optimizer-state pair
     * (eisnet/pair.h); 0 in files written before pairs were checked. */
    int64_t generation;
} eisnet_predictor;

/* Builds the grid from options and a fresh model (features: 1/0). */
int eisnet_predictor_init(eisnet_predictor *p, const eisnet_grid_options *go, int features, int hidden, int known,
                          uint64_t seed);
void eisnet_predictor_free(eisnet_predictor *p);

int eisnet_predictor_n_in(const eisnet_predictor *p);

/* Spectrum features of z (n_freq values) into out (n_features). */
void eisnet_predictor_spectrum_features(const eisnet_predictor *p, const double complex *z, float *out);
/* Raw (unstandardised) features, for computing the normalisation. */
void eisnet_spectrum_raw_features(const double complex *z, int n_freq, float *out);

/* One input row. values: file order (only known ones are read); known[p] 0/1;
 * feats: the row's spectrum features (NULL when features == 0). */
void eisnet_predictor_input(const eisnet_predictor *p, const double *values, const uint8_t *known, const float *feats,
                            float *x);

/* Save as NAME.safetensors and NAME.npz (path may end in either or neither). */
int eisnet_predictor_save(const eisnet_predictor *p, const char *path);
/* Load from .safetensors or .npz; checks names, shapes and the configuration. */
int eisnet_predictor_load(eisnet_predictor *p, const char *path);
/* The checks and construction of eisnet_predictor_load on tensors and a
 * configuration (JSON text of cfg_len bytes) already in memory. `name` is
 * used in messages; n_other of the n arrays are not tensors of the model
 * (an .npz's configuration array). On failure p holds nothing to free. */
int eisnet_predictor_from_arrays(eisnet_predictor *p, const char *name, const eisnet_array *arr, size_t n,
                                 size_t n_other, const char *cfg, size_t cfg_len);


#ifdef __cplusplus
}
#endif
#endif
