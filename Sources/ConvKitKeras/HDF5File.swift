import CHDF5
import ConvKit
import Foundation

/// A read-only HDF5 file held in memory (HDF5's core driver over a file image), enough to
/// read the float datasets of a Keras weights file. Errors name the file and the dataset.
final class HDF5File {
    // HDF5's "default list", "whole dataspace" and "default error stack" are the id 0, which
    // Swift imports as Int32.
    private let defaults = hid_t(H5P_DEFAULT), everything = hid_t(H5S_ALL)

    private let file: hid_t
    let source: String

    init(bytes: Data, source: String) throws {
        self.source = source
        // HDF5 prints its error stack to stderr by default; errors are reported as ConvKitError.
        H5Eset_auto2(hid_t(H5E_DEFAULT), nil, nil)
        let access = convkit_h5_new_file_access()
        guard access >= 0 else { throw ConvKitError("\(source): cannot create an HDF5 file-access list") }
        defer { H5Pclose(access) }
        guard H5Pset_fapl_core(access, 1 << 16, false) >= 0 else { throw ConvKitError("\(source): HDF5 core driver unavailable") }
        let status = bytes.withUnsafeBytes { H5Pset_file_image(access, UnsafeMutableRawPointer(mutating: $0.baseAddress), $0.count) }
        guard status >= 0 else { throw ConvKitError("\(source): cannot hand the file image to HDF5") }
        let id = H5Fopen(source, convkit_h5_read_only(), access)
        guard id >= 0 else { throw ConvKitError("\(source): not a readable HDF5 file") }
        file = id
    }

    deinit { H5Fclose(file) }

    func contains(_ path: String) -> Bool {
        // H5Lexists fails (rather than answering false) when an intermediate group is missing.
        var prefix = ""
        for part in path.split(separator: "/") {
            prefix += (prefix.isEmpty ? "" : "/") + part
            if H5Lexists(file, prefix, defaults) <= 0 { return false }
        }
        return true
    }

    /// How many members the group at `path` has (0 when there is no such group).
    func memberCount(_ path: String) -> Int {
        guard contains(path) else { return 0 }
        var info = H5G_info_t()
        guard H5Gget_info_by_name(file, path, &info, defaults) >= 0 else { return 0 }
        return Int(info.nlinks)
    }

    /// The float dataset at `path`, which must have `shape`: checked before anything is read.
    func floats(_ path: String, shape expected: [Int]) throws -> Tensor {
        let at = "\(source): dataset '\(path)'"
        guard contains(path) else { throw ConvKitError("\(at) is missing") }
        let dataset = H5Dopen2(file, path, defaults)
        guard dataset >= 0 else { throw ConvKitError("\(at) is not a dataset") }
        defer { H5Dclose(dataset) }
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0, rank <= 8 else { throw ConvKitError("\(at) has an unreadable shape") }
        var dims = [hsize_t](repeating: 0, count: rank)
        H5Sget_simple_extent_dims(space, &dims, nil)
        let shape = dims.map { Int(clamping: $0) }
        guard shape == expected else {
            throw ConvKitError("\(at) has shape \(shape), the layer needs \(expected)")
        }
        let type = H5Dget_type(dataset)
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_FLOAT else { throw ConvKitError("\(at) is not floating point") }
        var values = [Float](repeating: 0, count: shape.reduce(1, *))
        let status = values.withUnsafeMutableBytes {
            H5Dread(dataset, convkit_h5_native_float(), everything, everything, defaults, $0.baseAddress)
        }
        guard status >= 0 else { throw ConvKitError("\(at): the values cannot be read (truncated or corrupt file?)") }
        return Tensor(shape: shape, scalars: values)
    }
}
