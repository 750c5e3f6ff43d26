/// A per-axis size written as one number for every axis (`3`) or one per axis (`[3, 5]`),
/// like Keras' `kernel_size=3` / `kernel_size=(3, 5)`.
public struct SpatialSize: ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, Equatable, Sendable, CustomStringConvertible {
    public let values: [Int]
    public init(_ values: [Int]) { self.values = values }
    public init(integerLiteral value: Int) { values = [value] }
    public init(arrayLiteral elements: Int...) { values = elements }

    /// The sizes for `rank` axes; a single number is repeated.
    public func expanded(to rank: Int, _ what: String) throws -> [Int] {
        if values.count == 1 { return [Int](repeating: values[0], count: rank) }
        guard values.count == rank else {
            throw ConvKitError("\(what) needs 1 or \(rank) values, got \(values.count) (\(values))")
        }
        return values
    }

    public var description: String {
        values.count == 1 ? "\(values[0])" : "(" + values.map(String.init).joined(separator: ", ") + ")"
    }
}
