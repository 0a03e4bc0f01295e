#ifndef DSQ_VERSION_H
#define DSQ_VERSION_H
#define DSQ_VERSION "0.1.0"
#endif
