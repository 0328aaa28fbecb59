/* A C host for the end-to-end tests, built from clients/c/license_companion.h.
 *
 *   host track PRODUCT BASE COUNT PAUSE_US   tracks feature.export = BASE..BASE+COUNT-1,
 *                                            prints "sent N" every 1000, then flushes
 *   host cases PRODUCT                       one raw request per stdin line, its answer out
 *   host license PRODUCT                     prints the license state
 */
#define LICENSE_COMPANION_IMPLEMENTATION
#include "license_companion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void pause_us(long us) {
    struct timespec ts;
    if (us <= 0) return;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    nanosleep(&ts, NULL);
}

int main(int argc, char **argv) {
    lc_client *c;
    int rc = 0;
    if (argc < 3) return 2;
    c = lc_open(argv[2]);
    if (!c) return 3;
    if (strcmp(argv[1], "track") == 0 && argc == 6) {
        long base = atol(argv[3]), count = atol(argv[4]), us = atol(argv[5]), i;
        for (i = 0; i < count; i++) {
            rc = lc_track_number(c, "feature.export", (double)(base + i));
            if (rc != LC_OK && rc != LC_EIO) {
                fprintf(stderr, "track %ld: %d %s\n", base + i, rc, lc_error(c));
                return 1;
            }
            if ((i + 1) % 1000 == 0) {
                printf("sent %ld\n", i + 1);
                fflush(stdout);
            }
            pause_us(us);
        }
        rc = lc_flush(c, 60000);
        printf("flushed %d %s\n", rc, rc ? lc_error(c) : "");
    } else if (strcmp(argv[1], "cases") == 0) {
        static char line[1 << 20], answer[1 << 20];
        while (fgets(line, sizeof line, stdin)) {
            line[strcspn(line, "\n")] = 0;
            rc = lc_request(c, line, answer, sizeof answer, 10000);
            if (rc != LC_OK) {
                fprintf(stderr, "request: %d %s\n", rc, lc_error(c));
                return 1;
            }
            printf("%s\n", answer);
        }
    } else if (strcmp(argv[1], "license") == 0) {
        char state[16];
        rc = lc_license_state(c, state, sizeof state);
        printf("%d %s\n", rc, state);
    } else {
        return 2;
    }
    fflush(stdout);
    lc_close(c);
    return rc == LC_OK ? 0 : 1;
}
