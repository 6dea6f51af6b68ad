/// An integer's decimal digits appended to a byte buffer, without a `String` in between: the one
/// place Orbit writes integers as text (JSON numbers and string parts, the lineage header, the
/// dedup changelog). Hot encoders write several per record.
public enum DecimalDigits {
    /// Appends `value` as `String(value)` writes it: a `-` when negative, no leading zeros.
    public static func append(_ value: Int64, to bytes: inout [UInt8]) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        append(magnitude: value.magnitude, to: &bytes)
    }

    /// Appends the digits of a non-negative number.
    public static func append(magnitude value: UInt64, to bytes: inout [UInt8]) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        // At most 20 digits, written right to left into a stack buffer and appended at once: one
        // capacity check instead of one per digit.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { buffer in
            var rest = value
            var start = 20
            repeat {
                start -= 1
                buffer[start] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[start...]))
        }
    }
}
