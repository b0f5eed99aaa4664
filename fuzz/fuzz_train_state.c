/* libFuzzer: the optimizer state file (.state.safetensors), whole. */
#include "eisnet/optim.h"
#include "eisnet/train_state.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static eisnet_adamw opt;
    static int ready;
    if (!ready) {
        eisnet_adamw_config ac = eisnet_adamw_config_default();
        if (eisnet_adamw_init(&opt, 4, &ac) != 0) abort();
        ready = 1;
    }
    eisnet_train_run_state rs;
    memset(&rs, 0, sizeof rs);
    eisnet_epoch_record *h = NULL;
    int nh = 0;
    char *extra = NULL;
    if (eisnet_train_state_load(fuzz_write_tmp(data, size, ".safetensors"), &opt, &rs, &h, &nh, "eisnet_update_state",
                                &extra) == 0) {
        free(h);
        free(extra);
    }
    return 0;
}
