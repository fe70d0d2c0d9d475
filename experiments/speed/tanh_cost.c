/* Where the forward's time goes on an AVX2 host (experiments/speed/README.md, "The AVX2 host"). Not part of the
   library: DyT's forward loop with tanh as the kernels compute it, three ways (gcc's vectorization of the C
   function; the same function in AVX2 intrinsics with a division; with a reciprocal and one Newton step), beside
   a copy and an affine map. Build twice to see what -fno-trapping-math changes:

     gcc -O3 -march=native -fopenmp -ffp-contract=fast -fno-math-errno [-fno-trapping-math] \
         experiments/speed/tanh_cost.c -o /tmp/tanh_cost
     OMP_NUM_THREADS=1 /tmp/tanh_cost 16 20000   # 16 x 768 floats: in L1, compute only
     OMP_NUM_THREADS=2 /tmp/tanh_cost 8192 15    # the bench's shape

   Prints the best repetition in ms and ns per element. */
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
#include <math.h>
#include <immintrin.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static inline float tanh_rational(float x) {
    const float clamp = 7.90531110763549805f;
    x = x < -clamp ? -clamp : (x > clamp ? clamp : x);
    const float x2 = x * x;
    float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
    p = p * x2 + -8.60467152213735e-11f; p = p * x2 + 5.12229709037114e-08f;
    p = p * x2 + 1.48572235717979e-05f; p = p * x2 + 6.37261928875436e-04f;
    p = p * x2 + 4.89352455891786e-03f; p = p * x;
    float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
    q = q * x2 + 2.26843463243900e-03f; q = q * x2 + 4.89352518554385e-03f;
    return p / q;
}
void k_copy(const float*x,float*y,int64_t n,const float*a,const float*w,const float*b,int64_t C){
 #pragma omp parallel for schedule(static)
 for(int64_t r=0;r<n/C;r++){ const float*xr=x+r*C; float*yr=y+r*C;
 #pragma omp simd
 for(int64_t c=0;c<C;c++) yr[c]=xr[c];}}
void k_affine(const float*x,float*y,int64_t n,const float*a,const float*w,const float*b,int64_t C){
 #pragma omp parallel for schedule(static)
 for(int64_t r=0;r<n/C;r++){ const float*xr=x+r*C; float*yr=y+r*C;
 #pragma omp simd
 for(int64_t c=0;c<C;c++) yr[c]=xr[c]*a[c]*w[c]+b[c];}}
void k_rat(const float*x,float*y,int64_t n,const float*a,const float*w,const float*b,int64_t C){
 #pragma omp parallel for schedule(static)
 for(int64_t r=0;r<n/C;r++){ const float*xr=x+r*C; float*yr=y+r*C;
 #pragma omp simd
 for(int64_t c=0;c<C;c++) yr[c]=tanh_rational(xr[c]*a[c])*w[c]+b[c];}}
static inline __m256 rational_pq(__m256 x, __m256* q){  /* numerator, and the denominator in *q */
  const __m256 cl=_mm256_set1_ps(7.90531110763549805f);
  x=_mm256_min_ps(cl,_mm256_max_ps(_mm256_sub_ps(_mm256_setzero_ps(),cl),x));
  __m256 x2=_mm256_mul_ps(x,x);
  __m256 p=_mm256_fmadd_ps(x2,_mm256_set1_ps(-2.76076847742355e-16f),_mm256_set1_ps(2.00018790482477e-13f));
  p=_mm256_fmadd_ps(p,x2,_mm256_set1_ps(-8.60467152213735e-11f));
  p=_mm256_fmadd_ps(p,x2,_mm256_set1_ps(5.12229709037114e-08f));
  p=_mm256_fmadd_ps(p,x2,_mm256_set1_ps(1.48572235717979e-05f));
  p=_mm256_fmadd_ps(p,x2,_mm256_set1_ps(6.37261928875436e-04f));
  p=_mm256_fmadd_ps(p,x2,_mm256_set1_ps(4.89352455891786e-03f));
  p=_mm256_mul_ps(p,x);
  __m256 d=_mm256_fmadd_ps(x2,_mm256_set1_ps(1.19825839466702e-06f),_mm256_set1_ps(1.18534705686654e-04f));
  d=_mm256_fmadd_ps(d,x2,_mm256_set1_ps(2.26843463243900e-03f));
  *q=_mm256_fmadd_ps(d,x2,_mm256_set1_ps(4.89352518554385e-03f));
  return p;
}
static inline __m256 tanh_rcp(__m256 x){
  __m256 q, p=rational_pq(x,&q);
  __m256 r=_mm256_rcp_ps(q);
  r=_mm256_mul_ps(r,_mm256_fnmadd_ps(q,r,_mm256_set1_ps(2.0f)));
  return _mm256_mul_ps(p,r);
}
static inline __m256 tanh_div(__m256 x){
  __m256 q, p=rational_pq(x,&q);
  return _mm256_div_ps(p,q);
}
#define KV(NAME,F) void NAME(const float*x,float*y,int64_t n,const float*a,const float*w,const float*b,int64_t C){ \
 _Pragma("omp parallel for schedule(static)") \
 for(int64_t r=0;r<n/C;r++){ const float*xr=x+r*C; float*yr=y+r*C; \
 for(int64_t c=0;c<C;c+=8){ __m256 v=_mm256_mul_ps(_mm256_loadu_ps(xr+c),_mm256_loadu_ps(a+c)); \
   _mm256_storeu_ps(yr+c,_mm256_fmadd_ps(F(v),_mm256_loadu_ps(w+c),_mm256_loadu_ps(b+c)));}}}
KV(k_rcp,tanh_rcp)
KV(k_div,tanh_div)
typedef void(*K)(const float*,float*,int64_t,const float*,const float*,const float*,int64_t);
int main(int argc,char**argv){
  int64_t C=768, M=atoi(argv[1]); int64_t n=M*C; int reps=atoi(argv[2]);
  float*x=aligned_alloc(64,n*4),*y=aligned_alloc(64,n*4),*a=aligned_alloc(64,C*4),*w=aligned_alloc(64,C*4),*b=aligned_alloc(64,C*4);
  for(int64_t i=0;i<n;i++) x[i]=(float)((rand()/(double)RAND_MAX-0.5)*6);
  for(int c=0;c<C;c++){a[c]=0.7f;w[c]=1.1f;b[c]=0.1f;}
  K ks[]={k_copy,k_affine,k_rat,k_div,k_rcp}; const char*names[]={"copy","affine","rational(gcc)","rational(div,intr)","rational(rcp+NR)"};
  for(int k=0;k<5;k++){ double best=1e9; for(int r=0;r<reps;r++){double t=now(); ks[k](x,y,n,a,w,b,C); t=now()-t; if(t<best)best=t;}
    printf("%-20s %8.3f ms  %.2f ns/elem\n",names[k],best*1e3,best*1e9/n);}
  return 0;}
