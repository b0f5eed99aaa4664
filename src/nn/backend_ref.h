/* backend_ref.h (private): the reference backend's extra constructor. */
#ifndef EISNET_BACKEND_REF_H
#define EISNET_BACKEND_REF_H

#include "eisnet/backend.h"

/* A reference backend that declares its buffers NOT host-visible (they are
 * still host memory): the model then copies at its edges exactly as for a
 * GPU backend, which tests can check on any machine. */
eisnet_backend *eisnet_backend_ref_new_device_like(void);

#endif
