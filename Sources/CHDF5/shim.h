#include <hdf5.h>

// H5T_NATIVE_FLOAT and the property-list class ids are macros that call H5open(); Swift sees
// neither, so these wrappers give them a function to call.
static inline hid_t convkit_h5_native_float(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t convkit_h5_new_file_access(void) { return H5Pcreate(H5P_FILE_ACCESS); }
static inline unsigned convkit_h5_read_only(void) { return H5F_ACC_RDONLY; }
