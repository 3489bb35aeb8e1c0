//! Which instructions the hot loops run on: the plain build (SSE2 on x86-64, whatever the target
//! has elsewhere) or, where the CPU has them, AVX2 with fused multiply-add, chosen at run time.
//!
//! The hot code is written once, generic over `FMA`, and inlined into one function per
//! instruction set; [`madd`] is a fused multiply-add only in the AVX2 copy (elsewhere it would
//! call a slow software `fmaf`). One machine always takes the same copy, so its output is the
//! same bit for bit from run to run; the two copies differ by rounding only (a test compares
//! them).

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
