int ioreqd_placeholder(void);
int ioreqd_placeholder(void) { return 0; }
