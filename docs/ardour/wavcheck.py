"""Checks an exported float WAV: its length, no NaN or Inf, its peak and its level every half second."""
import math
import struct
import sys

data = open(sys.argv[1], "rb").read()
i, fmt, samples = 12, None, b""
while i + 8 <= len(data):
    chunk, size = data[i : i + 4], struct.unpack("<I", data[i + 4 : i + 8])[0]
    if chunk == b"fmt ":
        fmt = struct.unpack("<HHIIHH", data[i + 8 : i + 24])
    elif chunk == b"data":
        samples = data[i + 8 : i + 8 + size]
    i += 8 + size + (size & 1)
assert fmt and fmt[0] == 3 and fmt[5] == 32, f"not a 32-bit float WAV: {fmt}"
channels, rate = fmt[1], fmt[2]
x = struct.unpack(f"<{len(samples) // 4}f", samples)
bad = sum(1 for v in x if not math.isfinite(v))
peak = max((abs(v) for v in x if math.isfinite(v)), default=0.0)
left = x[0::channels]
print(f"{len(left) / rate:.2f} s, {bad} samples not finite, peak {20 * math.log10(peak or 1e-30):.1f} dBFS")
levels = []
for k in range(0, len(left), rate // 2):
    seg = left[k : k + rate // 2]
    rms = math.sqrt(sum(v * v for v in seg) / len(seg))
    levels.append(f"{20 * math.log10(rms or 1e-30):.1f}")
print("level every 0.5 s (dBFS):", " ".join(levels))
sys.exit(1 if bad or peak == 0.0 else 0)
