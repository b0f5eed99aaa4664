/* eisnet/readers.h: one entry point that reads a measured impedance spectrum
 * from any supported instrument or CSV file, detects the format by content,
 * fixes the sign convention of Im(Z), and crops the points.
 *
 * Formats (the columns each one reads are listed in docs/real-data.md):
 *   csv          comma/semicolon/tab separated; without a header: freq, Re(Z),
 *                Im(Z); with a header: columns found by name, Re/Im or |Z|/phase
 *                (degrees or radians)
 *   gamry        Gamry .DTA (the ZCURVE table)
 *   biologic     BioLogic EC-Lab .mpt (freq/Hz, Re(Z)/Ohm, -Im(Z)/Ohm)
 *   autolab      Autolab ASCII export (comma separated, after the Freq header)
 *   parstat      Parstat .txt (Frequency (Hz), Zre, Zim; rows at 0 Hz skipped)
 *   zplot        Scribner ZPlot .z
 *   versastudio  VersaStudio .par (the data of <Segment1>)
 *   powersuite   PowerSuite .txt (Frequency, Zre, Zimg)
 *   chinstruments CH Instruments .txt (Freq/Hz, Z'/ohm, Z"/ohm)
 * Lines may end in LF, CRLF or CR; a UTF-8 byte order mark is skipped. The
 * points come back sorted by ascending frequency (eisnet_spectrum's rule). */
#ifndef EISNET_READERS_H
#define EISNET_READERS_H

#include "eisnet/spectrum.h"

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    EISNET_FORMAT_AUTO = 0,
    EISNET_FORMAT_CSV,
    EISNET_FORMAT_GAMRY,
    EISNET_FORMAT_BIOLOGIC,
    EISNET_FORMAT_AUTOLAB,
    EISNET_FORMAT_PARSTAT,
    EISNET_FORMAT_ZPLOT,
    EISNET_FORMAT_VERSASTUDIO,
    EISNET_FORMAT_POWERSUITE,
    EISNET_FORMAT_CHINSTRUMENTS,
    EISNET_FORMAT_COUNT
} eisnet_format;

/* How Im(Z) of a CSV file is taken. AUTO: as written, unless the header names
 * the column "-Im..."/"-Z''" or most non-zero values are positive (a spectrum
 * written as -Im(Z)); then it is negated and the reason reported. */
typedef enum { EISNET_IM_AUTO = 0, EISNET_IM_AS_IS, EISNET_IM_NEGATE } eisnet_im_sign;

typedef struct {
    eisnet_format format;   /* AUTO: detected from the content */
    double f_min, f_max;    /* keep f_min <= f <= f_max; 0 = no limit */
    int drop_inductive;     /* keep only points with Im(Z) < 0 */
    eisnet_im_sign im_sign; /* CSV only */
} eisnet_read_options;

typedef struct {
    eisnet_format format;   /* the format read */
    int n_read;             /* points in the file */
    int n_range_dropped;    /* removed by f_min/f_max */
    int n_inductive_dropped;
    int im_negated;         /* 1 when Im(Z) was negated (CSV) */
    int polar;              /* 1 when read from |Z| and phase */
    int phase_radians;      /* with polar: 1 radians, 0 degrees */
    char note[256];         /* what was detected or assumed, "" if nothing notable */
} eisnet_read_info;

void eisnet_read_options_default(eisnet_read_options *o);

/* Reads `path` into `out` (release with eisnet_spectrum_free). `opt` may be
 * NULL (defaults), `info` may be NULL. Returns 0, or -1 with a one-line error
 * naming the file (and line, column or header where there is one). Fewer than
 * 3 points left after cropping is an error. */
int eisnet_spectrum_read(const char *path, const eisnet_read_options *opt, eisnet_spectrum *out,
                         eisnet_read_info *info);

/* "gamry", ...; "auto" for AUTO. */
const char *eisnet_format_name(eisnet_format f);
/* Parses a name as printed by eisnet_format_name; -1 with the error set. */
int eisnet_format_parse(const char *name, eisnet_format *f);
/* The format of a file's text, by content (never AUTO). */
eisnet_format eisnet_format_detect(const char *text, size_t n);

#ifdef __cplusplus
}
#endif
#endif
