/* Placeholder: replaced by the record walker. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
static struct PyModuleDef walkmodule = {PyModuleDef_HEAD_INIT, "_walk", NULL, -1, NULL};
PyMODINIT_FUNC PyInit__walk(void) { return PyModule_Create(&walkmodule); }
