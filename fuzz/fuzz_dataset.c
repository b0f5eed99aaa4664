/* libFuzzer: a dataset directory. The input is dataset.json, then a line
 * "--npz--", then dataset.npz; resnorm.npy is the small valid one of the
 * seeds' dataset (2 ground truths x 32 models), so that the checks of the
 * three files against each other are reached. */
#include "eisnet/dataset.h"
#include "eisnet/npy.h"
#include "fuzz_util.h"

#include <sys/stat.h>

static void put(const char *dir, const char *name, const void *data, size_t n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *fp = fopen(p, "wb");
    if (!fp) abort();
    if (n && fwrite(data, 1, n, fp) != n) abort();
    fclose(fp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[256];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/eisnet_fuzz_ds_%ld", fuzz_dir(), (long)getpid());
        mkdir(dir, 0700);
        /* resnorm.npy: float64 (2, 32), values 1..64 */
        double v[64];
        for (int i = 0; i < 64; i++) v[i] = i + 1;
        int64_t shape[2] = {2, 32};
        char p[512];
        snprintf(p, sizeof p, "%s/resnorm.npy", dir);
        if (eisnet_npy_write(p, EISNET_F64, 2, shape, v) != 0) abort();
    }
    const char *sep = "\n--npz--\n";
    const uint8_t *cut = NULL;
    for (size_t i = 0; i + 9 <= size && !cut; i++)
        if (memcmp(data + i, sep, 9) == 0) cut = data + i;
    size_t nj = cut ? (size_t)(cut - data) : size;
    put(dir, "dataset.json", data, nj);
    put(dir, "dataset.npz", cut ? cut + 9 : data, cut ? size - nj - 9 : 0);
    eisnet_dataset d;
    if (eisnet_dataset_open(&d, dir) == 0) eisnet_dataset_close(&d);
    return 0;
}
