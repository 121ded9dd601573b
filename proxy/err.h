/* SPDX-License-Identifier: Apache-2.0 */
/* proxy/err.h — the one error convention: functions return 0 or a negative RM_E* code.
 * I/O-like functions return >0 progress, 0 would-block, <0 error (stated in their header). */
#ifndef RM_ERR_H
#define RM_ERR_H

enum rm_err {
    RM_OK = 0,
    RM_ENOMEM = 1,   /* allocation failed */
    RM_ELIMIT = 2,   /* a configured or built-in limit was hit */
    RM_EPROTO = 3,   /* peer violated the protocol */
    RM_EIO = 4,      /* socket or file error (errno logged by the caller) */
    RM_ETIMEOUT = 5, /* a timer expired */
    RM_ECONFIG = 6,  /* configuration is invalid (details in a cfg_err list) */
    RM_ENOTFOUND = 7,
    RM_EINVAL = 8, /* bad argument (a bug in the caller or bad user input) */
    RM_EAGAIN = 9,
    RM_ECLOSED = 10, /* the peer closed the connection */
};

/* Returns a static, human-readable name for |code| (positive or negative). */
const char *rm_strerror(int code);

#endif
