// Definitions every generated CUDA kernel starts with. NVRTC compiles without the C standard
// headers, so the fixed-width types and the constants the shared C expression emitter uses
// are defined here; the kiln_* helpers map to CUDA's math library (same names as the C
// backend's helpers, so c_expr.ts serves both). The float16/bfloat16 conversions, added for
// kernels that use them, are the C backend's own source (half_c.ts) over CUDA's float<->bits
// intrinsics; so are the integer helpers (int_c.ts), with the fixed-width typedefs a kernel
// names beyond these (int_c.ts's cudaTypedefs).

import { includeGuarded } from '../../schedule/backend.js';
import { halfHelpers } from '../half_c.js';
import { intHelpers } from '../int_c.js';

export const CUDA_PRELUDE = includeGuarded('KILN_CUDA_PRELUDE', `#ifdef __CUDACC_RTC__
typedef long long int64_t;
typedef int int32_t;
typedef unsigned char uint8_t;
#define INFINITY __int_as_float(0x7f800000)
#define NAN __int_as_float(0x7fffffff)
#define INT64_MIN (-9223372036854775807LL - 1)
#define INT64_MAX 9223372036854775807LL
#define INT32_MIN (-2147483647 - 1)
#define INT32_MAX 2147483647
#else
#include <stdint.h>
#include <math.h>
#endif
// unused: most kernels call few of these, and each unused one was a warning in the kernel's
// log (~3.5 KB per kernel, stored in every cache entry and read by every warm start).
#define KD static __device__ __forceinline__ __attribute__((unused))
// __expf (ex2.approx): a few ulp, as Triton's exp; full-precision expf made softmax compute-bound.
KD float kiln_expf(float x) { return __expf(x); }
KD float kiln_tanhf(float x) { return tanhf(x); }
KD float kiln_erff(float x) { return erff(x); }
KD float kiln_sigmoid(float x) { return 1.0f / (1.0f + __expf(-x)); }
KD float kiln_gelu(float x) { return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f)); }
KD float kiln_gelu_tanh(float x) { return 0.5f * x * (1.0f + tanhf(0.79788456080286536f * (x + 0.044715f * x * x * x))); }
KD float kiln_silu(float x) { return x / (1.0f + __expf(-x)); }
KD float kiln_softplus(float x) { return x > 20.0f ? x : log1pf(expf(x)); }
KD float kiln_fmod_py(float a, float b) { float r = fmodf(a, b); return (r != 0.0f && ((r < 0.0f) != (b < 0.0f))) ? r + b : r; }
KD int64_t kiln_imod_py(int64_t a, int64_t b) { int64_t r = a % b; return (r != 0 && ((r < 0) != (b < 0))) ? r + b : r; }
KD int64_t kiln_ipow(int64_t a, int64_t b) { int64_t r = 1; if (b < 0) return a == 1 ? 1 : (a == -1 ? ((b & 1) ? -1 : 1) : 0); while (b) { if (b & 1) r *= a; a *= a; b >>= 1; } return r; }
KD float kiln_maxf(float a, float b) { return (a != a || a > b) ? a : b; }
KD float kiln_minf(float a, float b) { return (a != a || a < b) ? a : b; }
KD double kiln_maxd(double a, double b) { return (a != a || a > b) ? a : b; }
KD double kiln_mind(double a, double b) { return (a != a || a < b) ? a : b; }
KD double kiln_fmod_pyd(double a, double b) { double r = fmod(a, b); return (r != 0.0 && ((r < 0.0) != (b < 0.0))) ? r + b : r; }
template <typename T> KD T kiln_shfl_xor(T v, int m) { return __shfl_xor_sync(0xffffffffu, v, m); }
`);

/** The types CUDA_PRELUDE typedefs for NVRTC, and those CUDA_HALF_PRELUDE adds. */
export const CUDA_PRELUDE_TYPES = ['int64_t', 'int32_t', 'uint8_t'] as const;
export const CUDA_HALF_PRELUDE_TYPES = ['uint16_t', 'uint32_t'] as const;

/** The integer division, remainder and power helpers (int_c.ts), for kernels that use them. */
export const CUDA_INT_PRELUDE = includeGuarded('KILN_CUDA_INT_PRELUDE', intHelpers('KD'));

/** The float16/bfloat16 helpers, after CUDA_PRELUDE, for kernels that use them. */
export const CUDA_HALF_PRELUDE = includeGuarded(
  'KILN_CUDA_HALF_PRELUDE',
  `#ifdef __CUDACC_RTC__
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
#endif
KD uint32_t kiln_f2u(float f) { return __float_as_uint(f); }
KD float kiln_u2f(uint32_t u) { return __uint_as_float(u); }
${halfHelpers('KD')}`,
);
