/// Derivative-free minimisation (Nelder and Mead's simplex method), used to fit the churn models
/// by maximum likelihood. Deterministic: the same start gives the same answer.
struct NelderMead {
    var maxIterations = 20_000
    var tolerance = 1e-10

    struct Result {
        let point: [Double]
        let value: Double
        let iterations: Int
        /// The simplex shrank to the tolerance before `maxIterations` ran out.
        let converged: Bool
    }

    func minimize(_ f: ([Double]) -> Double, start: [Double], step: Double = 0.5) -> Result {
        let n = start.count
        var simplex: [[Double]] = [start]
        for i in 0..<n {
            var p = start
            p[i] += step
            simplex.append(p)
        }
        var values = simplex.map { sanitized(f($0)) }
        var iteration = 0
        var converged = false
        while iteration < maxIterations {
            iteration += 1
            let order = values.indices.sorted { values[$0] < values[$1] }
            simplex = order.map { simplex[$0] }
            values = order.map { values[$0] }
            if abs(values[n] - values[0]) <= tolerance * (abs(values[0]) + tolerance) { converged = true; break }
            var centroid = [Double](repeating: 0, count: n)
            for p in simplex.dropLast() { for j in 0..<n { centroid[j] += p[j] / Double(n) } }
            func along(_ t: Double) -> [Double] { (0..<n).map { centroid[$0] + t * (simplex[n][$0] - centroid[$0]) } }
            let reflected = along(-1)
            let fr = sanitized(f(reflected))
            if fr < values[0] {
                let expanded = along(-2)
                let fe = sanitized(f(expanded))
                if fe < fr { simplex[n] = expanded; values[n] = fe } else { simplex[n] = reflected; values[n] = fr }
            } else if fr < values[n - 1] {
                simplex[n] = reflected; values[n] = fr
            } else {
                let contracted = fr < values[n] ? along(-0.5) : along(0.5)
                let fc = sanitized(f(contracted))
                if fc < min(fr, values[n]) {
                    simplex[n] = contracted; values[n] = fc
                } else {
                    for i in 1...n {
                        simplex[i] = (0..<n).map { simplex[0][$0] + 0.5 * (simplex[i][$0] - simplex[0][$0]) }
                        values[i] = sanitized(f(simplex[i]))
                    }
                }
            }
        }
        let best = values.indices.min { values[$0] < values[$1] }!
        return Result(point: simplex[best], value: values[best], iterations: iteration, converged: converged && values[best] < .greatestFiniteMagnitude)
    }

    private func sanitized(_ value: Double) -> Double { value.isFinite ? value : .greatestFiniteMagnitude }
}
