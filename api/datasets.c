// SPDX-License-Identifier: MIT
/*
 * datasets.c - GET /v1/datasets: every dataset the engine knows, where
 * nasd looks for its files and whether they are there (checked on each
 * request: installing a package should show without a restart).
 */
#include "api.h"

void api_datasets_list(api_req *rq, api_resp *rs)
{
    const nd_config *cfg = &rq->srv->cfg;
    json_t *list = json_array();
    for (const nas_dataset_desc *d = nas_datasets(); d->name; d++) {
        const char *path = nd_config_dataset_path(cfg, d->name);
        int present = nas_dataset_present(d->name, path);
        if (!path)
            path = d->default_path;
        json_t *o = json_pack("{s:s,s:s,s:o,s:b}", "name", d->name, "kind", d->kind, "path",
                              path ? json_string(path) : json_null(), "present", present);
        if (d->c)
            json_object_set_new(o, "shape", json_pack("[i,i,i]", d->c, d->h, d->w));
        if (d->classes)
            json_object_set_new(o, "classes", json_integer(d->classes));
        if (d->train_size)
            json_object_set_new(o, "train_size", json_integer(d->train_size));
        if (d->test_size)
            json_object_set_new(o, "test_size", json_integer(d->test_size));
        json_array_append_new(list, o);
    }
    api_json(rs, 200, json_pack("{s:o}", "datasets", list));
}
