// SPDX-License-Identifier: MIT
/*
 * search_spaces.c - GET /v1/search-spaces: every algorithm, its search
 * spaces, the datasets each takes and every field with its type, range,
 * default and doc, as the dashboard's submit form and clients build a
 * job from it.
 *
 * The one design decision to know: nothing here is written down twice.
 * The document is printed from the engine's job-spec table
 * (engine/jobs/spec_table.c) by api_spec_search_spaces, like the JSON
 * Schema of POST /v1/jobs, so the form and the validation cannot differ.
 */
#include "api.h"
#include "spec.h"

void api_search_spaces_list(api_req *rq, api_resp *rs)
{
    (void)rq;
    json_t *doc = api_spec_search_spaces();
    if (!doc) {
        api_failf(rs, 500, API_PROBLEM_INTERNAL, "", "out of memory");
        return;
    }
    api_json(rs, 200, doc);
}
