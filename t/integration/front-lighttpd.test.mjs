// front-lighttpd.test.mjs: the platform behind lighttpd (mod_fastcgi spawns the app)
import { defineFrontTests, defineStartupTests } from '../lib/front-cases.mjs';

defineFrontTests('lighttpd');
defineStartupTests('lighttpd');
