import Foundation
import OrbitContract
import OrbitCore

/// The `attributes` and `tags` sections of scoring.yaml: what other systems may say about a user,
/// and the bounds of what the scorer derives.
///
/// ```yaml
/// attributes:
///   gender: {type: enum, values: [female, male, non_binary, undisclosed]}
///   company_size: {type: number, min: 1, max: 10000000}
///   birthday: {type: date}
///   interests: {type: list, max_items: 10, max_length: 32}
/// tags:
///   first_touch_property: channel
///   categories_tracked: 16
///   top_categories: 3
///   favourite_time_min_events: 5
///   time_zone: Asia/Shanghai
///   community_levels: {occasional: 1, regular: 8, champion: 30}
/// ```
enum PortraitSettings {
    static func attributes(_ section: ConfigSection) throws(ConfigError) -> AttributeSchema {
        guard section.exists else { return AttributeSchema() }
        let names = try section.keys()
        guard names.count <= AttributeSchema.maxDeclarations else { throw section.invalid("", "at most \(AttributeSchema.maxDeclarations) attributes") }
        var declarations: [AttributeDeclaration] = []
        for name in names {
            guard AttributeDeclaration.isValidName(name) else {
                throw section.invalid(name, "an attribute name is lower-case letters, digits and _, starting with a letter, at most 64")
            }
            let d = section.section(name)
            let typeName = try d.string("type")
            guard let kind = AttributeKind(rawValue: typeName) else {
                throw d.invalid("type", "\(typeName) is not a type (one of: \(AttributeKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            // Only the bounds a type uses: a bound it would ignore is an error, not a silent no-op.
            let bounds: Set<String> = switch kind {
            case .string: ["max_length"]
            case .number: ["min", "max"]
            case .date: []
            case .enum: ["values"]
            case .list: ["max_items", "max_length", "values"]
            }
            try d.rejectUnknownKeys(bounds.union(["type"]))
            var declaration = AttributeDeclaration(name: name, kind: kind)
            declaration.maxLength = try d.int("max_length", default: kind == .list ? 64 : 128, range: 1...1024)
            declaration.maxItems = try d.int("max_items", default: 20, range: 1...100)
            if kind == .number {
                declaration.minimum = try d.optionalString("min") == nil ? nil : try d.double("min", range: -1e15...1e15)
                declaration.maximum = try d.optionalString("max") == nil ? nil : try d.double("max", range: -1e15...1e15)
                if let low = declaration.minimum, let high = declaration.maximum, low > high { throw d.invalid("max", "is below min (\(low))") }
            }
            declaration.values = try d.stringList("values")
            if kind == .enum, declaration.values.isEmpty { throw d.invalid("values", "an enum lists its allowed values") }
            guard declaration.values.count <= 200, Set(declaration.values).count == declaration.values.count,
                  declaration.values.allSatisfy({ !$0.isEmpty && $0.utf8.count <= declaration.maxLength }) else {
                throw d.invalid("values", "at most 200 distinct values of 1 to \(declaration.maxLength) bytes")
            }
            declarations.append(declaration)
        }
        return AttributeSchema(declarations)
    }

    static func tags(_ section: ConfigSection) throws(ConfigError) -> TagPolicy {
        var tags = TagPolicy()
        try section.rejectUnknownKeys(["first_touch_property", "categories_tracked", "top_categories", "favourite_time_min_events", "time_zone", "community_levels"])
        tags.firstTouchProperty = try section.string("first_touch_property", default: tags.firstTouchProperty)
        guard !tags.firstTouchProperty.isEmpty, tags.firstTouchProperty.utf8.count <= 64 else { throw section.invalid("first_touch_property", "a property name of 1 to 64 bytes") }
        tags.categoriesTracked = try section.int("categories_tracked", default: tags.categoriesTracked, range: 1...64)
        tags.topCategories = try section.int("top_categories", default: tags.topCategories, range: 1...tags.categoriesTracked)
        tags.favouriteTimeMinimum = try section.int("favourite_time_min_events", default: tags.favouriteTimeMinimum, range: 1...1_000_000)
        let zone = try section.string("time_zone", default: "UTC")
        guard let timeZone = TimeZone(identifier: zone) else { throw section.invalid("time_zone", "\(zone) is not an IANA time zone (such as Asia/Shanghai)") }
        tags.timeZone = timeZone
        if let levels = try section.intMap("community_levels", range: 1...1_000_000) {
            guard !levels.isEmpty, levels.count <= 10 else { throw section.invalid("community_levels", "names 1 to 10 levels") }
            guard Set(levels.values).count == levels.count else { throw section.invalid("community_levels", "each level needs its own minimum") }
            guard !levels.keys.contains("none") else { throw section.invalid("community_levels", "none is the name below the first level") }
            tags.communityLevels = levels.map { TagPolicy.CommunityLevel(name: $0.key, minimumActions: $0.value) }.sorted { $0.minimumActions < $1.minimumActions }
        }
        return tags
    }
}
