// front-apache.test.mjs: the platform behind Apache (mod_proxy_fcgi to infrpool-app --listen)
import { defineFrontTests, defineStartupTests } from '../lib/front-cases.mjs';

defineFrontTests('apache');
defineStartupTests('apache');
