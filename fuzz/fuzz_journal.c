/* libFuzzer: the update journal (replay of a file of any content). */
#include "eisnet/journal.h"
#include "fuzz_util.h"

static int count(void *ctx, int64_t index, char **lines, size_t *lens, int n)
{
    (void)index;
    for (int i = 0; i < n; i++)
        if (lens[i] && lines[i][0] == '\0' && lines[i][lens[i] - 1] == '\0') (*(long *)ctx)++;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    eisnet_journal *j = eisnet_journal_open(fuzz_write_tmp(data, size, ".journal"));
    if (!j) return 0;
    long c = 0;
    eisnet_journal_replay(j, count, &c);
    eisnet_journal_close(j, 1);
    return 0;
}
