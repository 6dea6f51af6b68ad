/// A points-mall coupon's code, as members type it and as it keys `orbit.coupons`: 16 symbols of
/// Crockford's base 32 (`0-9`, `A-Z` without `I L O U`), 80 bits. Codes are made by the membership
/// service from a keyed hash (nobody without the deployment's key can guess one) and are unique.
///
/// What people type is forgiving, as Crockford's alphabet is meant to be: lower case, hyphens and
/// spaces between groups, `O` for zero and `I` or `L` for one are all read as the canonical code.
/// The canonical form (upper case, no separators) is the key and what Orbit writes.
public enum CouponCode {
    /// Symbols per code: 16 × 5 bits = 80 random bits.
    public static let length = 16
    /// Crockford's base 32 symbols, by value.
    static let alphabet: [UInt8] = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ".utf8)

    /// The canonical code for `text`, or nil when it is not one (wrong length or a symbol outside
    /// the alphabet). At most 64 bytes are looked at: anything longer is not a code.
    public static func canonical(_ text: String) -> String? {
        guard text.utf8.count <= 64 else { return nil }
        var symbols: [UInt8] = []
        symbols.reserveCapacity(length)
        for byte in text.utf8 {
            if byte == UInt8(ascii: "-") || byte == UInt8(ascii: " ") { continue }
            guard let value = value(of: byte) else { return nil }
            symbols.append(alphabet[Int(value)])
        }
        guard symbols.count == length else { return nil }
        return String(decoding: symbols, as: UTF8.self)
    }

    /// The code whose 80 bits are the first 10 bytes of `bits` (which must hold at least 10).
    public static func encode(_ bits: some Collection<UInt8>) -> String {
        precondition(bits.count >= 10, "a coupon code needs 80 bits")
        var value: UInt128 = 0
        for byte in bits.prefix(10) { value = value << 8 | UInt128(byte) }
        var symbols = [UInt8](repeating: 0, count: length)
        for index in (0..<length).reversed() {
            symbols[index] = alphabet[Int(value & 31)]
            value >>= 5
        }
        return String(decoding: symbols, as: UTF8.self)
    }

    /// `XXXX-XXXX-XXXX-XXXX`: how a code is shown to people (notifications, the shop's pages).
    public static func grouped(_ code: String) -> String {
        var out = ""
        for (index, character) in code.enumerated() {
            if index > 0 && index % 4 == 0 { out.append("-") }
            out.append(character)
        }
        return out
    }

    /// A symbol's value, reading lower case as upper and `O`, `I`, `L` as their look-alikes.
    private static func value(of byte: UInt8) -> UInt8? {
        let upper = (97...122).contains(byte) ? byte - 32 : byte
        switch upper {
        case UInt8(ascii: "O"): return 0
        case UInt8(ascii: "I"), UInt8(ascii: "L"): return 1
        case UInt8(ascii: "U"): return nil
        default:
            guard let index = alphabet.firstIndex(of: upper) else { return nil }
            return UInt8(index)
        }
    }
}
