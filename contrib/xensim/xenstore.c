/* placeholder: the xenstore server lands here */
