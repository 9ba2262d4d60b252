# Runs a libFuzzer binary for a bounded time on a copy of a seed corpus.
#   cmake -DFUZZER=<exe> -DCORPUS=<seed dir> -DWORK_DIR=<scratch dir>
#         [-DMAX_TOTAL_TIME=<s>] -P run-fuzzer.cmake
# New inputs go to WORK_DIR/new, crash/leak/timeout reproducers to
# WORK_DIR/artifacts; the seed corpus is never written. Fails when the fuzzer
# reports anything.
foreach(var FUZZER CORPUS WORK_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "run-fuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()
if(NOT MAX_TOTAL_TIME)
  set(MAX_TOTAL_TIME 60)
endif()

file(REMOVE_RECURSE "${WORK_DIR}")
file(MAKE_DIRECTORY "${WORK_DIR}/new" "${WORK_DIR}/artifacts")
file(COPY "${CORPUS}/" DESTINATION "${WORK_DIR}/seeds")

execute_process(
  COMMAND "${FUZZER}"
    -max_total_time=${MAX_TOTAL_TIME} -rss_limit_mb=2048 -timeout=10
    -print_final_stats=1 -artifact_prefix=${WORK_DIR}/artifacts/
    "${WORK_DIR}/new" "${WORK_DIR}/seeds"
  WORKING_DIRECTORY "${WORK_DIR}"
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  file(GLOB artifacts "${WORK_DIR}/artifacts/*")
  message(FATAL_ERROR "the fuzzer failed (${result}); reproducers: ${artifacts}")
endif()
