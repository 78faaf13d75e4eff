/* A domain definition as the protocol shows it. */
#ifndef CORRAL_DOMAIN_JSON_H
#define CORRAL_DOMAIN_JSON_H

#include <cjson/cJSON.h>

#include "common/domain_xml.h"

/* The definition part of vm.info (PROTOCOL.md), as a new object. */
cJSON *domain_json_info(const struct domain_def *def);

#endif
