import CKernels

/// Training's BatchNorm → ReLU → max pooling, one image at a time (`TrainingFusion.swift`).
///
/// The ReLU's output z = relu((x − shift)·scale·gain + bias) exists only in a per-worker
/// scratch of one image, which stays in cache. Layer by layer, z is a batch-sized tensor,
/// written once and read twice (pooling, its gradient), and the routed gradient is read once
/// more than here; after a network's first layer these tensors do not fit in the cache, so
/// those passes run at memory speed. Backward recomputes each image's z to route the pooled
/// gradient, and takes BatchNorm's sums while that image's routed gradient is still in cache.
///
/// The loops are the separate layers' C loops (BatchNorm's, max pooling's), so the numbers are
/// theirs: equal whenever each image's rows are a whole number of the sums' 16-row blocks,
/// otherwise up to the order of the Float partial sums.
struct NormalizedMaxPool {
    let pool: ConvGeometry
    /// BatchNorm's map, x̂ = (x − shift)·scale, then x̂·gain + bias.
    let shift: [Float], scale: [Float], gain: [Float], bias: [Float]
    var isa: InstructionSet = .active

    private var channels: Int { pool.inputChannels }
    private var imageValues: Int { pool.inputPixels * channels }
    private var pooledValues: Int { pool.outputPixels * channels }

    /// The pooled ReLU output, of the pool's output shape.
    func forward(_ x: Tensor) -> Tensor {
        var pooled = Tensor(repeating: -.infinity, shape: pool.outputShape)
        let taps = Pooling.tapPairs(pool), c = channels
        let (pixels, outputPixels, imageValues, pooledValues, code) = (pool.inputPixels, pool.outputPixels, imageValues, pooledValues, isa.code)
        x.scalars.withUnsafeBufferPointer { xp in
            pooled.scalars.withUnsafeMutableBufferPointer { yp in
                taps.withUnsafeBufferPointer { tp in
                    let (xs, ys, ts) = (SharedPointer(xp.baseAddress!), SharedPointer(yp.baseAddress!), SharedPointer(tp.baseAddress!))
                    ChannelArithmetic.withChannelConstants([shift, scale, gain, bias]) { k in
                        Parallel.forEachChunk(pool.batch, values: x.count) { images, _ in
                            let z = UnsafeMutablePointer<Float>.allocate(capacity: imageValues)
                            defer { z.deallocate() }
                            for n in images {
                                convkit_channel_normalize(xs.base + n * imageValues, z, k.base, k.base + c, k.base + 2 * c, k.base + 3 * c,
                                                          nil, Int64(pixels), Int64(c), 1, code)
                                convkit_max_pool(z, ys.base + n * pooledValues, 1, Int64(pixels), Int64(outputPixels), Int64(c),
                                                 ts.base, Int64(taps.count / 2), code)
                            }
                        }
                    }
                }
            }
        }
        return pooled
    }

    /// The gradient reaching the BatchNorm's output, dz: `gradient` (of `pooled`, the output of
    /// `forward(x)`) routed back through the pooling (to each window's first maximum) and the
    /// ReLU. With it, BatchNorm's backward sums Σdz and Σdz·x̂ per channel, taken image by image
    /// while the image's dz is still in cache.
    func routedGradientAndSums(_ gradient: Tensor, input x: Tensor, pooled: Tensor)
        -> (routed: Tensor, sum: [Double], products: [Double]) {
        let c = channels, workers = Parallel.chunkCount(pool.batch, values: x.count)
        let partial = UnsafeMutablePointer<Double>.allocate(capacity: 2 * c * workers)
        partial.initialize(repeating: 0, count: 2 * c * workers)
        defer { partial.deallocate() }
        let taps = Pooling.tapPairs(pool)
        let (pixels, outputPixels, imageValues, pooledValues, code) = (pool.inputPixels, pool.outputPixels, imageValues, pooledValues, isa.code)
        let routed = Tensor(shape: x.shape) { d in
            x.scalars.withUnsafeBufferPointer { xp in
                gradient.scalars.withUnsafeBufferPointer { gp in
                    pooled.scalars.withUnsafeBufferPointer { yp in
                        taps.withUnsafeBufferPointer { tp in
                            let (xs, gs, ys, ts) = (SharedPointer(xp.baseAddress!), SharedPointer(gp.baseAddress!),
                                                    SharedPointer(yp.baseAddress!), SharedPointer(tp.baseAddress!))
                            let (ds, out) = (SharedPointer(d.baseAddress!), SharedPointer(partial))
                            ChannelArithmetic.withChannelConstants([shift, scale, gain, bias]) { k in
                                Parallel.forEachChunk(pool.batch, values: x.count) { images, worker in
                                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: imageValues + c)
                                    defer { scratch.deallocate() }
                                    let (z, flags, s) = (scratch, scratch + imageValues, out.base + 2 * c * worker)
                                    for n in images {
                                        let (xImage, dz) = (UnsafePointer(xs.base + n * imageValues), ds.base + n * imageValues)
                                        convkit_channel_normalize(xImage, z, k.base, k.base + c, k.base + 2 * c, k.base + 3 * c, nil,
                                                                  Int64(pixels), Int64(c), 1, code)
                                        // The kernel zeroes dz before routing; the ReLU's gate is applied by the sums here
                                        // and by the BatchNorm's gradient pass, as after an unpooled ReLU.
                                        convkit_max_pool_gradient(gs.base + n * pooledValues, z, ys.base + n * pooledValues, dz, flags, 1,
                                                                  Int64(pixels), Int64(outputPixels), Int64(c), ts.base, Int64(taps.count / 2), code)
                                        convkit_channel_sums(dz, xImage, k.base, k.base + c, z, nil, nil, Int64(pixels), Int64(c), s, s + c, code)
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let (sum, products) = ChannelArithmetic.addingPartials(partial, workers: workers, channels: c)
        return (routed, sum, products)
    }
}
