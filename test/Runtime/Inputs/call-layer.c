// Calls a layer entry of a library made by moe-gpu-aot from
// test/Pipelines/Inputs/layer-ffn-bf16.mlir (x [R, 256], gate, up and down
// weights, offsets [9], row map [T, 2], weights [T, 2] -> out [T, 256]) the
// way a C or Python caller does, with made-up device pointers, so that the
// fake driver prints the launch sequence; and its argument checks.
#include "moe-c/GPU.h"

#include <stdint.h>
#include <stdio.h>

static void report(const char *what, long long value) {
  printf("%s -> %lld: %s\n", what, value, moe_gpu_last_error());
}

int main(void) {
  report("moe_gpu_init", moe_gpu_init());
  int layer = moe_layer_find("ffn");
  printf("layers: %d, ffn = %d '%s', missing = %d, name(7) = '%s'\n",
         moe_layer_count(), layer, moe_layer_name(layer),
         moe_layer_find("missing"), moe_layer_name(7));
  printf("buffers: %d, dims: %d, unknown layer: %d\n",
         moe_layer_num_buffers(layer), moe_layer_num_dims(layer),
         moe_layer_num_buffers(7));
  // 100 dispatched rows of 50 tokens.
  int64_t dims[] = {100, 50, 50};
  int64_t bad[] = {100, -1, 50};
  printf("workspace: %lld, for 1 row: %lld, negative: %lld\n",
         (long long)moe_layer_workspace_size(layer, dims),
         (long long)moe_layer_workspace_size(layer, (int64_t[]){1, 1, 1}),
         (long long)moe_layer_workspace_size(layer, bad));
  void *buffers[] = {(void *)0x1000, (void *)0x2000, (void *)0x3000,
                     (void *)0x4000, (void *)0x5000, (void *)0x6000,
                     (void *)0x7000, (void *)0x8000};
  void *workspace = (void *)0x100000, *stream = (void *)0x5e00;
  report("moe_layer_forward(ffn)",
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
