# cachegrind's summary (two lines: "events: Ir I1mr ... Dr D1mr ... Dw D1mw ..." and
# "summary: <a count per event>") as the run's metrics, in JSON: the instructions executed,
# the D1 accesses and misses, and the D1 miss rate (misses per access, reads and writes).
/^events:/  { for (i = 2; i <= NF; i++) name[i] = $i }
/^summary:/ { for (i = 2; i <= NF; i++) count[name[i]] = $i }
END {
    accesses = count["Dr"] + count["Dw"]
    misses = count["D1mr"] + count["D1mw"]
    printf "{\"instructions\": %d, \"d1_accesses\": %d, \"d1_misses\": %d, \"d1_miss_rate\": %.6f}\n",
        count["Ir"], accesses, misses, accesses ? misses / accesses : 0
}
