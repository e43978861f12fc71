/* placeholder: hv-xen lands here */
