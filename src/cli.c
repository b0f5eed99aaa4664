/* eisnet command line (being written). */
#include <stdio.h>
int main(void) { fputs("eisnet: under construction\n", stderr); return 1; }
