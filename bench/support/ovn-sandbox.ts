/** The private OVN sandbox lives with the test helpers (the differential test runs it too). */
export * from '../../test/support/ovn-sandbox.js';
