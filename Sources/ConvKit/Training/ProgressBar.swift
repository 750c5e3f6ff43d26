import Foundation

/// Keras 2's progress line:
/// `55/55 [==============================] - 2s 36ms/step - loss: 0.4512 - accuracy: 0.8421`.
/// On a terminal it redraws in place after each step; otherwise it prints the final line only.
struct ProgressBar {
    let steps: Int
    let interactive: Bool
    let start = Date()
    private var lastDraw = Date.distantPast

    init(steps: Int, interactive: Bool) { self.steps = steps; self.interactive = interactive }

    /// Under mpirun the ranks' output goes through Open MPI's forwarding, where redrawing in
    /// place garbles: one line per epoch there.
    static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) != 0 && !isLaunchedByMPIRun }

    static func format(_ metrics: [(String, Double)]) -> String {
        metrics.map { " - \($0.0): \(String(format: "%.4f", $0.1))" }.joined()
    }

    func bar(_ step: Int) -> String {
        let width = 30, filled = steps > 0 ? width * step / steps : width
        var s = String(repeating: "=", count: max(filled - 1, 0))
        if filled > 0 { s += step < steps ? ">" : "=" }
        return "\(step)/\(steps) [" + s.padding(toLength: width, withPad: ".", startingAt: 0) + "]"
    }

    mutating func update(step: Int, metrics: [(String, Double)]) {
        guard interactive, Date().timeIntervalSince(lastDraw) > 0.1 || step == 1 else { return }
        lastDraw = Date()
        let elapsed = Date().timeIntervalSince(start)
        let eta = step > 0 ? elapsed / Double(step) * Double(steps - step) : 0
        Console.write("\r\(bar(step)) - ETA: \(Int(eta.rounded()))s\(ProgressBar.format(metrics))\u{1B}[K")
    }

    func finish(metrics: [(String, Double)]) {
        let elapsed = Date().timeIntervalSince(start)
        let perStep = elapsed / Double(max(steps, 1))
        let timing = perStep >= 1 ? "\(Int(perStep.rounded()))s/step" : "\(Int((perStep * 1000).rounded()))ms/step"
        let line = "\(bar(steps)) - \(Int(elapsed.rounded()))s \(timing)\(ProgressBar.format(metrics))"
        Console.write(interactive ? "\r\(line)\u{1B}[K\n" : line + "\n")
    }

}

/// Unbuffered standard output, so progress redraws and printed lines keep their order.
public enum Console {
    /// Silences standard output (set on every process but the first of a distributed run).
    nonisolated(unsafe) public static var isMuted = false
    public static func write(_ s: String) { if !isMuted { FileHandle.standardOutput.write(Data(s.utf8)) } }
    public static func line(_ s: String = "") { write(s + "\n") }
}
