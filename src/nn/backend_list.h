/* The registry of backends (src/nn/backend.c), in no particular order: "auto"
 * goes by each entry's auto_priority. A new backend adds one line here, with
 * its file defining `const eisnet_backend_reg eisnet_backend_reg_NAME`.
 * Lines for optional backends sit inside the #if of their build switch. */
EISNET_BACKEND(ref)
EISNET_BACKEND(cpu)
#ifdef EISNET_HAVE_CUDA
EISNET_BACKEND(cuda)
#endif
