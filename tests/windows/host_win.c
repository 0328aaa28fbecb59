/* A native Windows host for the Windows lane, built with mingw from clients/c/license_companion.h.
 *
 *   host_win PRODUCT COUNT   tracks feature.export = 0..COUNT-1 over the companion's pipe
 *                            (the name lc_open derives), flushes, then prints
 *                            "flushed <rc>" and "license <state>"
 */
#define LICENSE_COMPANION_IMPLEMENTATION
#include "license_companion.h"

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    lc_client *c;
    char state[32];
    long count, i;
    int rc;
    if (argc != 3) return 2;
    c = lc_open(argv[1]);
    if (!c) return 3;
    count = atol(argv[2]);
    for (i = 0; i < count; i++) {
        rc = lc_track_number(c, "feature.export", (double)i);
        if (rc != LC_OK) {
            fprintf(stderr, "track %ld: %d %s\n", i, rc, lc_error(c));
            lc_close(c);
            return 1;
        }
    }
    rc = lc_flush(c, 30000);
    printf("flushed %d %s\n", rc, rc ? lc_error(c) : "");
    rc = lc_license_state(c, state, sizeof state);
    printf("license %s %s\n", rc == LC_OK ? state : "?", rc == LC_OK ? "" : lc_error(c));
    fflush(stdout);
    lc_close(c);
    return 0;
}
