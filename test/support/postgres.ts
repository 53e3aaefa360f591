/** The PostgreSQL server the tests use: the local one CI starts (trust auth), unless DOMICILE_TEST_PG names another. */
export const testPostgresUrl = process.env.DOMICILE_TEST_PG ?? 'postgres://postgres@127.0.0.1:5432/test';
