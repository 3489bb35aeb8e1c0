//! Which instructions the hot loops run on: the plain build (SSE2 on x86-64, whatever the target
//! has elsewhere) or, where the CPU has them, AVX2 with fused multiply-add, chosen at run time.
//!
//! The hot code is written once, generic over `FMA`, and inlined into one function per
//! instruction set; [`madd`] is a fused multiply-add only in the AVX2 copy (elsewhere it would
//! call a slow software `fmaf`). One machine always takes the same copy, so its output is the
//! same bit for bit from run to run; the two copies differ by rounding only (a test compares
//! them).

use super::halfband::Lanes;

/// The instruction set an engine runs its hot loops on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Simd {
    /// The target's baseline (SSE2 on x86-64).
    Baseline,
    /// AVX2 and FMA (x86-64 only).
    Avx2Fma,
}

impl Simd {
    /// The best this CPU has (the answer is cached by the standard library).
    pub fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            return Simd::Avx2Fma;
        }
        Simd::Baseline
    }

    /// `self` if this CPU can run it, else the baseline: a request that cannot be met is not
    /// unsafe.
    pub fn supported(self) -> Self {
        match self {
            Simd::Avx2Fma if Simd::detect() == Simd::Avx2Fma => self,
            _ => Simd::Baseline,
        }
    }
}

/// `a * b + c`, fused (one rounding, one instruction) in the FMA copy of the hot code.
#[inline(always)]
pub fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA { a.mul_add(b, c) } else { a * b + c }
}

/// Both channels of one frame as one value, for the recursions that carry them from one sample
/// to the next. On x86-64 it is an SSE register ([`Pair`] for `__m128`): written over `Lanes`,
/// the compiler moved each frame through general registers as a 64-bit integer, which took a
/// third of a 1x block's time in the DC blocker.
pub trait Pair: Copy {
    fn load(x: &Lanes) -> Self;
    fn store(self, x: &mut Lanes);
    fn splat(x: f32) -> Self;
    fn sub(self, other: Self) -> Self;
    /// `a * b + c`, fused in the FMA copy (see [`madd`]).
    fn madd<const FMA: bool>(a: Self, b: Self, c: Self) -> Self;
}

/// The register the engine's recursions carry a frame in on this target.
#[cfg(target_arch = "x86_64")]
pub type Frame = std::arch::x86_64::__m128;
/// The register the engine's recursions carry a frame in on this target.
#[cfg(not(target_arch = "x86_64"))]
pub type Frame = Lanes;

impl Pair for Lanes {
    #[inline(always)]
    fn load(x: &Lanes) -> Self {
        *x
    }
    #[inline(always)]
    fn store(self, x: &mut Lanes) {
        *x = self;
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        [x; 2]
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        [self[0] - o[0], self[1] - o[1]]
    }
    #[inline(always)]
    fn madd<const FMA: bool>(a: Self, b: Self, c: Self) -> Self {
        [madd::<FMA>(a[0], b[0], c[0]), madd::<FMA>(a[1], b[1], c[1])]
    }
}

#[cfg(target_arch = "x86_64")]
impl Pair for std::arch::x86_64::__m128 {
    /// Both lanes into the register's low half (the high half is zero).
    #[inline(always)]
    fn load(x: &Lanes) -> Self {
        use std::arch::x86_64::{_mm_castpd_ps, _mm_load_sd};
        // SAFETY: `Lanes` is 8 bytes; `movsd` needs no alignment. SSE2 is x86-64's baseline.
        unsafe { _mm_castpd_ps(_mm_load_sd(x.as_ptr().cast())) }
    }
    #[inline(always)]
    fn store(self, x: &mut Lanes) {
        use std::arch::x86_64::{_mm_castps_pd, _mm_store_sd};
        // SAFETY: as in `load`.
        unsafe { _mm_store_sd(x.as_mut_ptr().cast(), _mm_castps_pd(self)) }
    }
    #[inline(always)]
    fn splat(x: f32) -> Self {
        // SAFETY: SSE is x86-64's baseline.
        unsafe { std::arch::x86_64::_mm_set1_ps(x) }
    }
    #[inline(always)]
    fn sub(self, o: Self) -> Self {
        // SAFETY: SSE is x86-64's baseline.
        unsafe { std::arch::x86_64::_mm_sub_ps(self, o) }
    }
    #[inline(always)]
    fn madd<const FMA: bool>(a: Self, b: Self, c: Self) -> Self {
        use std::arch::x86_64::{_mm_add_ps, _mm_fmadd_ps, _mm_mul_ps};
        // SAFETY: the fused form is only taken in the engine's copy compiled for AVX2 and FMA
        // (`Engine::process` picks it on CPUs that have them); SSE is x86-64's baseline.
        unsafe {
            if FMA {
                _mm_fmadd_ps(a, b, c)
            } else {
                _mm_add_ps(_mm_mul_ps(a, b), c)
            }
        }
    }
}
