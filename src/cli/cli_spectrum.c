/* Reading a measured spectrum with the command line's reader options: the
 * one path by which infer and kk take a spectrum. */
#include "cli.h"

#include "eisnet/error.h"
#include "eisnet/kk.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static int read_options(const cli_options *o, eisnet_read_options *ro)
{
    eisnet_read_options_default(ro);
    if (eisnet_format_parse(o->format, &ro->format) != 0) return eisnet_prefix_error("--format: ");
    if (strcmp(o->im_sign, "auto") == 0) ro->im_sign = EISNET_IM_AUTO;
    else if (strcmp(o->im_sign, "as_is") == 0) ro->im_sign = EISNET_IM_AS_IS;
    else if (strcmp(o->im_sign, "negate") == 0) ro->im_sign = EISNET_IM_NEGATE;
    else return eisnet_set_error("--im_sign must be auto, as_is or negate (got '%s')", o->im_sign);
    if (o->data_f_min < 0 || o->data_f_max < 0)
        return eisnet_set_error("--f_min and --f_max must be >= 0 Hz (0: no limit)");
    if (o->data_f_min > 0 && o->data_f_max > 0 && o->data_f_min >= o->data_f_max)
        return eisnet_set_error("--f_min %g Hz must be below --f_max %g Hz", o->data_f_min, o->data_f_max);
    ro->f_min = o->data_f_min;
    ro->f_max = o->data_f_max;
    ro->drop_inductive = o->drop_inductive;
    return 0;
}

int cli_read_spectrum(const cli_options *o, const char *path, eisnet_spectrum *s, eisnet_read_info *info)
{
    eisnet_read_options ro;
    eisnet_read_info local;
    if (!info) info = &local;
    memset(s, 0, sizeof *s);
    if (read_options(o, &ro) != 0) return -1;
    if (eisnet_spectrum_read(path, &ro, s, info) != 0) return -1;
    /* only what changed the data is worth a line: drops and conventions */
    if (!o->quiet && (info->n_range_dropped || info->n_inductive_dropped || info->note[0])) {
        char dropped[160] = "";
        size_t k = 0;
        if (info->n_range_dropped)
            k += (size_t)snprintf(dropped + k, sizeof dropped - k, ", %d outside %g..%g Hz dropped",
                                  info->n_range_dropped, ro.f_min, ro.f_max > 0 ? ro.f_max : INFINITY);
        if (info->n_inductive_dropped && k < sizeof dropped)
            snprintf(dropped + k, sizeof dropped - k, ", %d inductive (Im(Z) >= 0) dropped", info->n_inductive_dropped);
        fprintf(stderr, "%s: %s, %d of %d points, %.4g..%.4g Hz%s%s%s\n", path, eisnet_format_name(info->format),
                s->n, info->n_read, s->freq[0], s->freq[s->n - 1], dropped, info->note[0] ? "; " : "", info->note);
    }
    return 0;
}

/* Warns (stderr) when the measured points fail the Kramers-Kronig test in
 * every variant: the real fit (impedance.py's default), then the complex fit
 * (the real fit's mu criterion can stop at too few RC elements on clean data
 * with well separated arcs), each also with a series capacitor (data without
 * a low-frequency intercept). A warning then means no variant explains the
 * data, not that one fit stopped early. */
void cli_kk_warning(const char *command, const eisnet_spectrum *raw, const char *source)
{
    if (!raw || raw->n < 8) return; /* too few points to tell */
    static const eisnet_kk_fit fits[2] = {EISNET_KK_REAL, EISNET_KK_COMPLEX};
    eisnet_kk_options ko;
    eisnet_kk_result r, first;
    int have_first = 0;
    for (int v = 0; v < 4; v++) {
        eisnet_kk_options_default(&ko);
        ko.fit = fits[v / 2];
        ko.add_cap = v % 2;
        if (eisnet_kk_test(raw->freq, raw->z, raw->n, &ko, &r) != 0) continue;
        if (r.pass) {
            eisnet_kk_result_free(&r);
            if (have_first) eisnet_kk_result_free(&first);
            return;
        }
        if (!have_first) {
            first = r;
            have_first = 1;
        } else {
            eisnet_kk_result_free(&r);
        }
    }
    if (!have_first) return;
    eisnet_kk_options_default(&ko);
    char verdict[768];
    eisnet_kk_verdict(&first, &ko, raw->freq, verdict, sizeof verdict);
    fprintf(stderr, "eisnet %s: warning: %s fails the Kramers-Kronig test (%s); details: eisnet kk --spectrum %s\n",
            command, source, verdict, source);
    eisnet_kk_result_free(&first);
}
