/* Deterministic fuzzing of the capture file reader: valid pcap and pcapng
 * files (both byte orders) are mutated (bit flips, byte overwrites, length
 * fields, cuts) and read to the end; the reader must end cleanly or with
 * -EBADMSG, and every record must lie inside its block (the sanitizers
 * check the bytes are readable).  Argument: iterations (default 100000). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capfile.h"
#include "capfile_testlib.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint32_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 11);
}

static tbuf seed, work;

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 100000;
    uint64_t records = 0, errors = 0, clean = 0;

    for (long it = 0; it < iters; it++) {
        pd_cap_reader *r;
        pd_cap_record rec;
        unsigned kind = next() % 3;
        int rc;

        if (kind < 2) {
            t_rich_pcapng(&seed, (int)kind);
        } else {
            uint8_t pkt[80];
            memset(pkt, 0x5a, sizeof(pkt));
            seed.len = 0;
            seed.swap = (int)(next() & 1);
            t_pcap_header(&seed, (int)(next() & 1), 65535, 1);
            for (int i = 0; i < 4; i++)
                t_pcap_record(&seed, 1, (uint32_t)i, pkt, 20u * (uint32_t)i, 80);
        }
        /* The mutant goes to a heap block of exactly its size, so a read past
         * its end is caught by the address sanitizer. */
        memcpy(work.data, seed.data, seed.len);
        work.len = seed.len;
        for (unsigned m = 1 + next() % 4; m > 0; m--) {
            size_t at = next() % work.len;
            switch (next() % 5) {
            case 0: work.data[at] ^= (uint8_t)(1u << (next() % 8)); break;
            case 1: work.data[at] = (uint8_t)next(); break;
            case 2: { /* a plausible-looking length */
                uint32_t v = next() % 512;
                at &= ~(size_t)3;
                if (at + 4 <= work.len)
                    memcpy(work.data + at, &v, 4);
                break;
            }
            case 3: work.len = at; break;
            default: work.data[at] = 0xff; break;
            }
            if (work.len == 0)
                break;
        }
        {
            uint8_t *copy = malloc(work.len ? work.len : 1);
            memcpy(copy, work.data, work.len);
            rc = pd_cap_reader_open_mem(&r, copy, work.len);
            if (rc == 0) {
                while ((rc = pd_cap_read(r, &rec)) == 1) {
                    volatile uint8_t sum = 0;
                    for (uint32_t i = 0; i < rec.caplen; i++)
                        sum ^= rec.data[i];
                    (void)sum;
                    if (rec.iface >= pd_cap_reader_n_ifaces(r)) {
                        fprintf(stderr, "iteration %ld: record on an unknown interface\n", it);
                        return 1;
                    }
                    records++;
                }
            }
            if (rc != 0 && rc != -EBADMSG) {
                fprintf(stderr, "iteration %ld: unexpected result %d\n", it, rc);
                return 1;
            }
            if (rc == 0)
                clean++;
            else
                errors++;
            pd_cap_reader_close(r);
            free(copy);
        }
    }
    printf("%ld files: %llu records, %llu clean ends, %llu errors\n", iters,
           (unsigned long long)records, (unsigned long long)clean, (unsigned long long)errors);
    /* The mutations must exercise both outcomes, or the fuzzer tests nothing. */
    return clean > 0 && errors > 0 ? 0 : 1;
}
