import { Module } from '@nestjs/common';
import { ConnectorsModule } from '../../src/connectors/connectors.module';
import { ReauthNotifierService } from './reauth-notifier.service';

/** An example module: import it next to AppModule's modules (it needs EventEmitterModule.forRoot()). */
@Module({
  imports: [ConnectorsModule],
  providers: [ReauthNotifierService],
  exports: [ReauthNotifierService],
})
export class ReauthNotifierModule {}
