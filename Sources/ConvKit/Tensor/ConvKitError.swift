/// Every recoverable error ConvKit throws: a message that names what was wrong and where
/// (the file, layer, field or shape).
public struct ConvKitError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}
