// Trains a small CNN on 2,000 Fashion-MNIST images, saves it, loads it back and checks that
// the loaded model predicts what the trained one does. Exits non-zero if anything fails.
import ConvKit
import Foundation

let train = try FashionMNIST.load(.train)
let x = train.images.slice(batch: 0..<2000)
let y = try OneHot.encode(train.labels.slice(batch: 0..<2000), classes: 10)

let model = try Model(sequential: [
    Conv2D(filters: 16, kernelSize: 3, padding: .same, activation: .relu),
    MaxPooling2D(poolSize: 2),
    Conv2D(filters: 32, kernelSize: 3, padding: .same, activation: .relu),
    MaxPooling2D(poolSize: 2),
    Flatten(),
    Dense(units: 10, activation: .softmax),
], inputShape: [28, 28, 1], seed: 0)

model.compile(optimizer: Adam(learningRate: 0.002), loss: CategoricalCrossentropy())
let history = try model.fit(x, y, batchSize: 64, epochs: 2, validationSplit: 0.2)
let accuracy = history.epochs.last!.valAccuracy!
print("validation accuracy after 2 epochs: \(String(format: "%.1f", accuracy * 100))%")

let folder = FileManager.default.temporaryDirectory.appendingPathComponent("train-small-cnn-\(getpid())").path
defer { try? FileManager.default.removeItem(atPath: folder) }
try model.save(to: folder)
let again = try Model.load(from: folder)
let sample = x.slice(batch: 0..<8)
guard try again.predict(sample) == (try model.predict(sample)) else {
    fatalError("the loaded model predicts differently from the saved one")
}
// Ten classes: chance is 10%. Two epochs on 1,600 images reach far more.
guard accuracy > 0.4 else { fatalError("validation accuracy \(accuracy) is near chance: training did not work") }
print("saved, loaded and predicted alike")
