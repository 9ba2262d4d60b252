// Calls the layer entry `argv[1]` of a library made by moe-gpu-aot with the
// dims argv[2..] the way a C or Python caller does, with made-up device
// pointers (0x1000 * (i + 1) for buffer i), so that the fake driver prints
// the launch sequence; and its argument checks.
#include "moe-c/GPU.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void report(const char *what, long long value) {
  printf("%s -> %lld: %s\n", what, value, moe_gpu_last_error());
}

int main(int argc, char **argv) {
  report("moe_gpu_init", moe_gpu_init());
  int layer = moe_layer_find(argv[1]);
  printf("layers: %d, %s = %d '%s', missing = %d, name(7) = '%s'\n",
         moe_layer_count(), argv[1], layer, moe_layer_name(layer),
         moe_layer_find("missing"), moe_layer_name(7));
  printf("buffers: %d, dims: %d, unknown layer: %d\n",
         moe_layer_num_buffers(layer), moe_layer_num_dims(layer),
         moe_layer_num_buffers(7));
  int64_t dims[8], ones[8], bad[8];
  for (int i = 0; i + 2 < argc && i < 8; ++i) {
    dims[i] = atoll(argv[i + 2]);
    ones[i] = 1;
    bad[i] = i == argc - 3 ? -1 : dims[i];
  }
  printf("workspace: %lld, for 1 row: %lld, negative: %lld\n",
         (long long)moe_layer_workspace_size(layer, dims),
         (long long)moe_layer_workspace_size(layer, ones),
         (long long)moe_layer_workspace_size(layer, bad));
  void *buffers[16];
  for (int i = 0; i < 16; ++i)
    buffers[i] = (void *)(uintptr_t)(0x1000 * (i + 1));
  void *workspace = (void *)0x100000, *stream = (void *)0x5e00;
  report("moe_layer_forward",
         moe_layer_forward(layer, buffers, dims, workspace, stream));
  report("moe_layer_forward(7)",
         moe_layer_forward(7, buffers, dims, workspace, stream));
  report("moe_layer_forward(no workspace)",
         moe_layer_forward(layer, buffers, dims, NULL, stream));
  buffers[3] = NULL;
  report("moe_layer_forward(null buffer)",
         moe_layer_forward(layer, buffers, dims, workspace, stream));
  return 0;
}
