# For each kernel (.entry) of a PTX file: whether it reaches
# griddepcontrol.wait before any global or shared memory access, TMA copy
# or mbarrier operation (directives such as .shared declarations aside).
# Prints "<kernel>: ok", or "<kernel>: <instruction>
# before griddepcontrol.wait" (a dependent launch could then read a
# predecessor's unfinished results), or "<kernel>: no griddepcontrol.wait".
function finish() {
  if (name != "" && !done) print name ": no griddepcontrol.wait"
}
/\.entry / {
  finish()
  name = $0; sub(/.*\.entry /, "", name); sub(/\(.*/, "", name)
  done = 0
  next
}
name == "" || done || $1 ~ /^\./ { next }
/griddepcontrol\.wait/ { print name ": ok"; done = 1; next }
/(ld|st|atom|red|cp)\.(global|shared|async|bulk)|ld\.volatile|mbarrier|ldmatrix|stmatrix/ {
  print name ": " $1 " before griddepcontrol.wait"; done = 1
}
END { finish() }
