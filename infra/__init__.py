"""AWS CDK constructs and stacks that deploy Bucketwatch. Infrastructure only: no parsing or judging."""
