# For each function of `cuobjdump -sass`: its name and the 128-bit global
# loads (LDG.E.128) it issues before its first HMMA, i.e. how many of a
# lane's loads are in flight when the first mma waits for them.
/Function : / { name = $3; loads = 0; seen = 0 }
/HMMA/ { if (!seen) print name ": " loads " loads before the first HMMA"; seen = 1 }
/LDG\.E\.128/ { if (!seen) loads++ }
