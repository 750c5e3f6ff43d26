import Foundation

/// The metrics of one training epoch.
public struct EpochLog: Codable, Sendable, Equatable {
    public var epoch: Int
    public var loss: Double
    public var accuracy: Double
    public var valLoss: Double?
    public var valAccuracy: Double?
    public var learningRate: Double
    public var seconds: Double
    public var imagesPerSecond: Double

    public init(epoch: Int, loss: Double, accuracy: Double, valLoss: Double?, valAccuracy: Double?, learningRate: Double,
                seconds: Double, imagesPerSecond: Double) {
        self.epoch = epoch; self.loss = loss; self.accuracy = accuracy; self.valLoss = valLoss; self.valAccuracy = valAccuracy
        self.learningRate = learningRate; self.seconds = seconds; self.imagesPerSecond = imagesPerSecond
    }

    enum CodingKeys: String, CodingKey {
        case epoch, loss, accuracy, valLoss = "val_loss", valAccuracy = "val_accuracy"
        case learningRate = "learning_rate", seconds, imagesPerSecond = "images_per_second"
    }

    /// A metric by its Keras name (`loss`, `accuracy`, `val_loss`, `val_accuracy`).
    public func value(of metric: String) -> Double? {
        switch metric {
        case "loss": loss
        case "accuracy": accuracy
        case "val_loss": valLoss
        case "val_accuracy": valAccuracy
        default: nil
        }
    }
}

/// What `fit` returns: one log per completed epoch.
public struct History: Codable, Sendable, Equatable {
    public var epochs: [EpochLog] = []
    public init(epochs: [EpochLog] = []) { self.epochs = epochs }

    public static let csvHeader = "epoch,loss,accuracy,val_loss,val_accuracy,learning_rate,seconds,images_per_second"

    public static func csvRow(_ e: EpochLog) -> String {
        func f(_ v: Double?) -> String { v.map { String(format: "%.6f", $0) } ?? "" }
        return "\(e.epoch),\(f(e.loss)),\(f(e.accuracy)),\(f(e.valLoss)),\(f(e.valAccuracy)),\(f(e.learningRate)),\(String(format: "%.3f", e.seconds)),\(String(format: "%.1f", e.imagesPerSecond))"
    }

    public var csv: String { ([History.csvHeader] + epochs.map(History.csvRow)).joined(separator: "\n") + "\n" }
}
