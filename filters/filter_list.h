/* SPDX-License-Identifier: Apache-2.0 */
/* filters/filter_list.h — one line per network filter: NETWORK_FILTER(symbol). The symbol is
 * a `const struct net_filter_def` defined in the filter's own file. Order is lookup order. */
NETWORK_FILTER(tcp_proxy_filter_def)
