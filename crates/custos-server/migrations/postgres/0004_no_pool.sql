-- The presignature pool and raw digest signings are gone (ADR 0008): every
-- signing is a request (transfer, PSBT, message, blind digest).
DROP TABLE presignatures;
DROP TABLE sign_requests;
