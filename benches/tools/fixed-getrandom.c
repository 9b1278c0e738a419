/* A getrandom(2) that returns fixed bytes, preloaded (LD_PRELOAD) into the instruction-count
 * benchmarks by benches/tools/instr-bench.sh, never into anything else.
 *
 * Why: Rust's std seeds every HashMap's SipHash keys from getrandom, so each process
 * probes, resizes and iterates its hash maps in its own order; group-by results, index
 * lookups and the sorts after them then take a few thousand instructions more or less
 * from run to run (up to 2 % on the PromQL benchmarks). With fixed keys a benchmark
 * executes the same instructions in every run. Nothing in the measured code needs
 * unpredictable keys: the inputs are the benchmark's own fixed data. */
#include <string.h>
#include <sys/types.h>

ssize_t getrandom(void *buf, size_t len, unsigned int flags) {
    (void)flags;
    memset(buf, 0x5a, len);
    return (ssize_t)len;
}
